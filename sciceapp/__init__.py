"""sciceapp: a desktop photo geolocator built on the SciceVPR place recognition network."""

__version__ = "0.1.0"
