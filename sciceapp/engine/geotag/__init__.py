"""Writing locations back into photos: tags (exiv2), sidecars, the journal with undo, GPX.

``writer.Journal`` is the entry point: ``write([WriteRequest(photo, GeoTag(...), sidecar)])``,
``history()``, ``undo(count)``. ``gpx`` matches photos to recorded tracks by time.
"""
