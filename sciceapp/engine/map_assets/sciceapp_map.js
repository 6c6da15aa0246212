/* sciceapp map layer: draws the data written by sciceapp/engine/mapview.py onto a Leaflet map.
 *
 * Every text reaches the page through textContent (never innerHTML), so file names and EXIF
 * text cannot become markup. See mapview.py for the data layout and the hooks this exposes.
 */
function sciceappMap(map, data, options) {
  "use strict";
  var bridge = null;
  var byId = {};        // catalogue photo id -> marker (match markers win over references)
  var byPhoto = {};     // query photo path -> its own marker, which can be dragged
  var pointMarkers = 0; // markers outside the cluster group
  var noticeBox = null;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function line(parent, label, value) {
    var row = element("div", "sciceapp-row");
    row.appendChild(element("span", "sciceapp-label", label + ": "));
    row.appendChild(element("span", "sciceapp-value", value));
    parent.appendChild(row);
  }

  function fmt(value, digits) {
    return (value === null || value === undefined) ? "unknown" : Number(value).toFixed(digits);
  }

  function basename(path) {
    var parts = String(path).split(/[\\/]/);
    return parts[parts.length - 1];
  }

  function photoPopup(title, path, lat, lon, extra) {
    var box = element("div", "sciceapp-popup");
    box.appendChild(element("div", "sciceapp-title", title));
    if (path) { box.appendChild(element("div", "sciceapp-path", path)); }
    if (lat !== null && lat !== undefined) {
      line(box, "position", fmt(lat, 6) + ", " + fmt(lon, 6));
    }
    (extra || []).forEach(function (pair) { line(box, pair[0], pair[1]); });
    return box;
  }

  function clicked(id) {
    if (bridge && id !== null && id !== undefined) { bridge.markerClicked(String(id)); }
  }

  function showNotice(text) {
    if (!noticeBox) {
      var Notice = L.Control.extend({
        onAdd: function () { noticeBox = element("div", "sciceapp-notice"); return noticeBox; }
      });
      new Notice({ position: "bottomleft" }).addTo(map);
    }
    noticeBox.textContent = text;
    noticeBox.style.display = "block";
  }

  if (map.getMaxZoom() === Infinity) { map.setMaxZoom(options.maxZoom); }  // no tile layer

  // Reference photos: one cluster group fed in bulk, one shared icon and one shared click
  // handler (no per-marker popup or closure: that is what keeps 100k photos quick).
  var cluster = L.markerClusterGroup({ chunkedLoading: true, showCoverageOnHover: false });
  var refIcon = dot("reference", 12);
  function openReference(marker) {
    var ref = marker.sciceappRef; // [id, lat, lon, path, capture_time]
    L.popup({ offset: [0, -4] })
      .setLatLng(marker.getLatLng())
      .setContent(photoPopup(basename(ref[3]), ref[3], ref[1], ref[2],
        ref[4] ? [["taken", ref[4]]] : []))
      .openOn(map);
  }
  function onReferenceClick(event) {
    openReference(event.target);
    clicked(event.target.sciceappId);
  }
  var refs = data.references.map(function (ref) {
    var marker = L.marker([ref[1], ref[2]], { icon: refIcon }).on("click", onReferenceClick);
    marker.sciceappId = ref[0];
    marker.sciceappRef = ref;
    byId[String(ref[0])] = marker;
    return marker;
  });
  cluster.addLayers(refs);
  map.addLayer(cluster);

  function dot(kind, size) {
    // Markers with an HTML icon (not canvas circles): markercluster can reveal them.
    return L.divIcon({ className: "sciceapp-dot sciceapp-" + kind, iconSize: [size, size] });
  }

  function point(latlng, kind, size, popup, id) {
    var marker = L.marker(latlng, { icon: dot(kind, size) }).bindPopup(popup);
    if (id !== null && id !== undefined) {
      marker.sciceappId = id;
      marker.on("click", function () { clicked(id); });
      byId[String(id)] = marker;
    }
    pointMarkers += 1;
    return marker.addTo(map);
  }

  data.queries.forEach(function (q) {
    // q = {query, predicted: [lat, lon] | null, confidence, circle_m, query_gps, error_m,
    //      matches: [[id, path, score, lat, lon, rank], ...] (geotagged only)}
    var name = basename(q.query);
    q.matches.forEach(function (m) {
      var ll = [m[3], m[4]];
      if (q.predicted) {
        L.polyline([q.predicted, ll], {
          color: "#d9480f", weight: 2, opacity: Math.max(0.25, 0.9 - 0.07 * m[5]), dashArray: "4 4"
        }).addTo(map);
      }
      point(ll, "match", 14,
        photoPopup("match " + (m[5] + 1) + " for " + name, m[1], m[3], m[4],
          [["similarity", fmt(m[2], 3)]]), m[0]);
    });
    if (q.predicted) {
      L.circle(q.predicted, {
        radius: q.circle_m, color: "#c92a2a", weight: 1,
        fillOpacity: 0.08 + 0.3 * q.confidence
      }).addTo(map);
      var predicted = point(q.predicted, "predicted", 20,
        photoPopup("predicted: " + name, q.query, q.predicted[0], q.predicted[1],
          [["confidence", fmt(q.confidence, 2)]].concat(
            q.error_m === null ? [] : [["error", fmt(q.error_m, 0) + " m"]])), null);
    }
    var recorded = null;
    if (q.query_gps) {
      recorded = point(q.query_gps, "recorded", 16,
        photoPopup("recorded GPS: " + name, q.query, q.query_gps[0], q.query_gps[1], []), null);
      if (q.predicted) {
        L.polyline([q.query_gps, q.predicted], { color: "#2b8a3e", weight: 2 }).addTo(map);
      }
    }
    // The photo's own position (its GPS, else its prediction) can be dragged to correct it;
    // the window asks before writing anything (bridge.markerMoved).
    var own = recorded || (q.predicted ? predicted : null);
    if (own && options.bridge) { movable(own, q.query); }
  });

  function movable(marker, photo) {
    marker.dragging.enable();
    marker.on("dragend", function () {
      var ll = marker.getLatLng();
      if (bridge) { bridge.markerMoved(String(photo), ll.lat, ll.lng); }
    });
    byPhoto[String(photo)] = marker;
  }

  if (options.bridge) {
    map.on("click", function (event) {
      if (bridge) { bridge.mapClicked(event.latlng.lat, event.latlng.lng); }
    });
  }

  if (options.notice) { showNotice(options.notice); }
  map.eachLayer(function (layer) {
    if (layer instanceof L.TileLayer) {
      layer.on("tileerror", function () { showNotice(options.tileErrorNotice); });
    }
  });

  if (options.bridge && typeof QWebChannel !== "undefined" && window.qt && qt.webChannelTransport) {
    new QWebChannel(qt.webChannelTransport, function (channel) { bridge = channel.objects.bridge; });
  }

  window.sciceapp = {
    ready: true,
    highlight: function (id) {
      var marker = byId[String(id)];
      if (!marker) { return false; }
      if (cluster.hasLayer(marker)) {
        cluster.zoomToShowLayer(marker, function () { openReference(marker); });
      } else {
        map.panTo(marker.getLatLng());
        marker.openPopup();
      }
      return true;
    },
    marker: function (id) { return byId[String(id)] || null; },
    photoMarker: function (path) { return byPhoto[String(path)] || null; },
    bridgeReady: function () { return bridge !== null; },
    markerCount: function () { return cluster.getLayers().length + pointMarkers; },
    notice: function () { return noticeBox && noticeBox.style.display !== "none" ? noticeBox.textContent : ""; }
  };
}
