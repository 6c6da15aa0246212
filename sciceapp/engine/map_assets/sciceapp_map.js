/* sciceapp map layer: draws the data written by sciceapp/engine/mapview.py onto a Leaflet map,
 * and the overlays the GUI pushes later (sciceapp.setOverlay) without reloading the page.
 *
 * Every text reaches the page through textContent (never innerHTML), so file names and EXIF
 * text cannot become markup. See mapview.py for the data layout and the hooks this exposes.
 */
function sciceappMap(map, data, options) {
  "use strict";
  var bridge = null;
  var refById = {};     // catalogue photo id -> reference marker
  var overlayById = {}; // catalogue photo id -> overlay marker (wins over the reference)
  var overlays = {};    // overlay name -> {group, points, items}
  var byPhoto = {};     // query photo path -> its own marker, which can be dragged
  var noticeBox = null;
  var refsDrawn = false;
  var reviewOptions = { showAgreeing: true };

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

  function photoPopup(title, path, lat, lon, extra, place) {
    var box = element("div", "sciceapp-popup");
    box.appendChild(element("div", "sciceapp-title", title));
    if (path) { box.appendChild(element("div", "sciceapp-path", path)); }
    if (place) { line(box, "place", place); }
    if (lat !== null && lat !== undefined) {
      line(box, "position", fmt(lat, 6) + ", " + fmt(lon, 6));
    }
    (extra || []).forEach(function (pair) { line(box, pair[0], pair[1]); });
    return box;
  }

  // Acknowledge a pushed change once the browser has painted it (two animation frames).
  function afterPaint(callback) {
    requestAnimationFrame(function () { requestAnimationFrame(callback); });
  }

  function call(name) {
    var args = Array.prototype.slice.call(arguments, 1);
    if (bridge && typeof bridge[name] === "function") { bridge[name].apply(bridge, args); }
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

  function dot(kind, size) {
    // Markers with an HTML icon (not canvas circles): markercluster can reveal them.
    return L.divIcon({ className: "sciceapp-dot sciceapp-" + kind, iconSize: [size, size] });
  }

  // Right click on a catalogue photo's marker: the GUI shows its context menu.
  function withMenu(marker, id, kind) {
    marker.on("contextmenu", function () { call("markerMenu", String(id), kind); });
    return marker;
  }

  if (map.getMaxZoom() === Infinity) { map.setMaxZoom(options.maxZoom); }  // no tile layer

  // The world outline under the tiles: what is left of the map when no tile loads.
  var basemapLayer = null;
  if (options.basemap) {
    map.createPane("sciceappBasemap");
    map.getPane("sciceappBasemap").style.zIndex = 150;  // below the tile pane (200)
    basemapLayer = L.geoJSON(options.basemap, {
      pane: "sciceappBasemap", interactive: false,
      style: { color: "#8c8c7a", weight: 1, fillColor: "#f2efe4", fillOpacity: 1 }
    }).addTo(map);
    map.attributionControl.addAttribution(options.basemapAttribution);
  }

  // Reference photos: one cluster group fed in bulk, one shared icon and one shared click
  // handler (no per-marker popup or closure: that is what keeps 100k photos quick).
  var refIcon = dot("reference", 12);
  // Place names of reference photos: asked of the GUI when a popup opens (the GeoNames table
  // is read off the GUI thread there), kept here once known ("" when there is none).
  var refPlaces = {};
  var refPopup = null; // {id, popup} of the reference popup now open
  function referenceContent(ref) {
    return photoPopup(basename(ref[3]), ref[3], ref[1], ref[2],
      ref[4] ? [["taken", ref[4]]] : [], refPlaces[String(ref[0])]);
  }
  function openReference(marker) {
    var ref = marker.sciceappRef; // [id, lat, lon, path, capture_time]
    var popup = L.popup({ offset: [0, -4] })
      .setLatLng(marker.getLatLng())
      .setContent(referenceContent(ref))
      .openOn(map);
    refPopup = { id: String(ref[0]), popup: popup, ref: ref };
    if (!(String(ref[0]) in refPlaces)) { call("placeWanted", String(ref[0]), ref[1], ref[2]); }
  }
  function onReferenceClick(event) {
    openReference(event.target);
    call("markerClicked", String(event.target.sciceappId));
  }
  function onReferenceMenu(event) { call("markerMenu", String(event.target.sciceappId), "reference"); }
  var cluster = L.markerClusterGroup({
    chunkedLoading: true, showCoverageOnHover: false, animate: false,
    chunkProgress: function (done, total) {  // the cluster finishes its work right after
      if (done >= total) { setTimeout(referencesDrawn, 0); }
    }
  });
  map.addLayer(cluster);
  var refs = data.references.map(function (ref) {
    var marker = L.marker([ref[1], ref[2]], { icon: refIcon })
      .on("click", onReferenceClick).on("contextmenu", onReferenceMenu);
    marker.sciceappId = ref[0];
    marker.sciceappRef = ref;
    refById[String(ref[0])] = marker;
    return marker;
  });
  cluster.addLayers(refs);

  // -- overlays ------------------------------------------------------------------------------
  function point(overlay, latlng, kind, size, popup, id) {
    var marker = L.marker(latlng, { icon: dot(kind, size) }).bindPopup(popup);
    if (id !== null && id !== undefined) {
      marker.sciceappId = id;
      marker.on("click", function () { call("markerClicked", String(id)); });
      withMenu(marker, id, kind);
      overlayById[String(id)] = marker;
    }
    overlay.points += 1;
    return marker.addTo(overlay.group);
  }

  function movable(marker, photo) {
    // Set before the overlay's group joins the map: Leaflet then makes the marker draggable.
    marker.options.draggable = true;
    marker.on("dragend", function () {
      var ll = marker.getLatLng();
      call("markerMoved", String(photo), ll.lat, ll.lng);
    });
    byPhoto[String(photo)] = marker;
  }

  function drawQuery(overlay, q) {
    // q = {query, predicted: [lat, lon] | null, place, confidence, circle_m, query_gps, error_m,
    //      matches: [[id, path, score, lat, lon, rank, place, verified, inliers], ...]
    //      (geotagged only; inliers null when not verified)}
    var name = basename(q.query);
    q.matches.forEach(function (m) {
      var ll = [m[3], m[4]];
      if (q.predicted) {
        L.polyline([q.predicted, ll], {
          color: "#d9480f", weight: 2, opacity: Math.max(0.25, 0.9 - 0.07 * m[5]), dashArray: "4 4"
        }).addTo(overlay.group);
      }
      // A verified match is a larger green dot with a ring; its popup says so.
      var checked = m[8] === null || m[8] === undefined ? [] :
        [["verification", (m[7] ? "verified, " : "not verified, ") + m[8] + " inliers"]];
      point(overlay, ll, m[7] ? "verified" : "match", m[7] ? 18 : 14,
        photoPopup("match " + (m[5] + 1) + " for " + name, m[1], m[3], m[4],
          [["similarity", fmt(m[2], 3)]].concat(checked), m[6]), m[0]);
    });
    if (q.predicted) {
      L.circle(q.predicted, {
        radius: q.circle_m, color: "#c92a2a", weight: 1,
        fillOpacity: 0.08 + 0.3 * q.confidence
      }).addTo(overlay.group);
      var predicted = point(overlay, q.predicted, "predicted", 20,
        photoPopup("predicted: " + name, q.query, q.predicted[0], q.predicted[1],
          [["confidence", fmt(q.confidence, 2)]].concat(
            q.error_m === null ? [] : [["error", fmt(q.error_m, 0) + " m"]]), q.place), null);
    }
    var recorded = null;
    if (q.query_gps) {
      recorded = point(overlay, q.query_gps, "recorded", 16,
        photoPopup("recorded GPS: " + name, q.query, q.query_gps[0], q.query_gps[1], []), null);
      if (q.predicted) {
        L.polyline([q.query_gps, q.predicted], { color: "#2b8a3e", weight: 2 }).addTo(overlay.group);
      }
    }
    // The photo's own position (its GPS, else its prediction) can be dragged to correct it;
    // the window asks before writing anything (bridge.markerMoved).
    var own = recorded || (q.predicted ? predicted : null);
    if (own && options.bridge) { movable(own, q.query); }
  }

  var FLAGGED = "#e8590c", AGREEING = "#2f9e44";
  function drawReviewItem(overlay, r) {
    // r = {photo, recorded, predicted, distance_m, confidence, flagged, bearing, place}
    if (!r.flagged && !reviewOptions.showAgreeing) { return; }
    var colour = r.flagged ? FLAGGED : AGREEING;
    var opacity = r.flagged ? 0.95 : 0.3;
    var popup = photoPopup((r.flagged ? "DISAGREES: " : "agrees: ") + basename(r.photo), r.photo,
      r.predicted[0], r.predicted[1],
      [["recorded", fmt(r.recorded[0], 6) + ", " + fmt(r.recorded[1], 6)],
       ["distance", fmt(r.distance_m, 0) + " m"], ["confidence", fmt(r.confidence, 2)]], r.place);
    L.polyline([r.recorded, r.predicted], {
      color: colour, weight: r.flagged ? 3 : 2, opacity: opacity
    }).bindPopup(popup).addTo(overlay.group);
    var head = element("div", "sciceapp-arrowhead");
    head.style.transform = "rotate(" + Number(r.bearing) + "deg)";
    head.style.borderBottomColor = colour;
    head.style.opacity = String(opacity);
    L.marker(r.predicted, {
      icon: L.divIcon({ className: "", html: head, iconSize: [0, 0] }), interactive: false
    }).addTo(overlay.group);
    overlay.arrows += 1;
    if (r.flagged) { overlay.flagged += 1; }
    // The recorded end is the photo's own marker: drag it to correct its position.
    var own = point(overlay, r.recorded, "recorded", 10,
      photoPopup("recorded GPS: " + basename(r.photo), r.photo, r.recorded[0], r.recorded[1], [],
        r.recorded_place), null);
    if (options.bridge) { movable(own, r.photo); }
  }

  var legend = null;
  function showLegend(visible) {
    if (visible && !legend) {
      var Legend = L.Control.extend({
        onAdd: function () {
          var box = element("div", "sciceapp-legend");
          box.appendChild(element("div", "sciceapp-title", "Survey review"));
          [[FLAGGED, 1, "flagged: GPS disagrees with the photo"],
           [AGREEING, 0.3, "agrees"]].forEach(function (entry) {
            var row = element("div");
            var swatch = element("span", "sciceapp-swatch");
            swatch.style.background = entry[0];
            swatch.style.opacity = String(entry[1]);
            row.appendChild(swatch);
            row.appendChild(element("span", null, entry[2]));
            box.appendChild(row);
          });
          box.appendChild(element("div", "sciceapp-label", "arrow: recorded \u2192 predicted"));
          return box;
        }
      });
      legend = new Legend({ position: "bottomright" }).addTo(map);
    } else if (!visible && legend) {
      legend.remove();
      legend = null;
    }
  }

  function drawTrack(overlay, t) {
    // t = {points: [[lat, lon], ...], start, end}: one unbroken run of a GPX track
    L.polyline(t.points, {
      color: "#1c7ed6", weight: 3, opacity: 0.8, interactive: false
    }).addTo(overlay.group);
    overlay.lines += 1;
  }

  var drawers = { queries: drawQuery, review: drawReviewItem, track: drawTrack };

  function drawOverlay(name, items) {
    var old = overlays[name];
    if (old) {
      map.removeLayer(old.group);
      Object.keys(byPhoto).forEach(function (path) {
        if (old.group.hasLayer(byPhoto[path])) { delete byPhoto[path]; }
      });
      Object.keys(overlayById).forEach(function (id) {
        if (overlayById[id].sciceappOverlay === name) { delete overlayById[id]; }
      });
    }
    var overlay = {
      group: L.layerGroup(), points: 0, arrows: 0, flagged: 0, lines: 0, items: items || []
    };
    overlays[name] = overlay;
    var before = Object.keys(overlayById);
    overlay.items.forEach(function (item) { drawers[name](overlay, item); });
    Object.keys(overlayById).forEach(function (id) {
      if (before.indexOf(id) < 0) { overlayById[id].sciceappOverlay = name; }
    });
    overlay.group.addTo(map);
    if (name === "review") { showLegend(overlay.items.length > 0); }
  }

  function focus(bounds) {
    if (bounds) {
      map.fitBounds(bounds, { animate: false, padding: [30, 30], maxZoom: options.focusMaxZoom });
    }
  }

  Object.keys(data.overlays || {}).forEach(function (name) { drawOverlay(name, data.overlays[name]); });
  if (data.focus) { focus(data.focus); } else { map.setView([20, 0], 2); }

  if (options.bridge) {
    map.on("click", function (event) { call("mapClicked", event.latlng.lat, event.latlng.lng); });
  }

  if (options.notice) { showNotice(options.notice); }
  map.eachLayer(function (layer) {
    if (layer instanceof L.TileLayer) {
      layer.on("tileerror", function () { showNotice(options.tileErrorNotice); });
    }
  });

  function markerCount() {
    var count = cluster.getLayers().length;
    Object.keys(overlays).forEach(function (name) { count += overlays[name].points; });
    return count;
  }

  window.sciceapp = {
    ready: false,
    setOverlay: function (name, items, seq) {
      if (!drawers[name]) { return false; }
      drawOverlay(name, items);
      afterPaint(function () { call("overlayShown", String(name), Number(seq || 0)); });
      return true;
    },
    focus: function (bounds, seq) {
      focus(bounds);
      if (seq) { afterPaint(function () { call("overlayShown", "focus", Number(seq)); }); }
      return true;
    },
    view: function () {
      var b = map.getBounds();
      return { bounds: [[b.getSouth(), b.getWest()], [b.getNorth(), b.getEast()]], zoom: map.getZoom() };
    },
    setView: function (lat, lon, zoom) { map.setView([lat, lon], zoom, { animate: false }); return true; },
    setReviewOptions: function (values) {
      reviewOptions.showAgreeing = !!values.showAgreeing;
      if (overlays.review) { drawOverlay("review", overlays.review.items); }
      return true;
    },
    highlight: function (id) {
      var marker = overlayById[String(id)] || refById[String(id)];
      if (!marker) { return false; }
      if (cluster.hasLayer(marker)) {
        // Pan first without animation: markercluster's own animated pan can miss its moveend.
        if (!map.getBounds().contains(marker.getLatLng())) {
          map.panTo(marker.getLatLng(), { animate: false });
        }
        cluster.zoomToShowLayer(marker, function () { openReference(marker); });
      } else {
        map.panTo(marker.getLatLng(), { animate: false });
        marker.openPopup();
      }
      return true;
    },
    marker: function (id) { return overlayById[String(id)] || refById[String(id)] || null; },
    photoMarker: function (path) { return byPhoto[String(path)] || null; },
    bridgeReady: function () { return bridge !== null; },
    markerCount: markerCount,
    overlayCount: function (name, what) {  // what: "flagged" arrows, "lines" (tracks) only
      var overlay = overlays[name];
      if (!overlay) { return 0; }
      if (what === "flagged") { return overlay.flagged; }
      if (what === "lines") { return overlay.lines; }
      return overlay.points + overlay.arrows;
    },
    basemapShown: function () {
      return !!basemapLayer && map.hasLayer(basemapLayer) && basemapLayer.getLayers().length;
    },
    setPlace: function (id, place) {
      refPlaces[String(id)] = place || "";
      if (refPopup && refPopup.id === String(id) && map.hasLayer(refPopup.popup)) {
        refPopup.popup.setContent(referenceContent(refPopup.ref));
      }
      return true;
    },
    popupText: function () {
      var open = document.querySelector(".leaflet-popup-content");
      return open ? open.textContent : "";
    },
    notice: function () { return noticeBox && noticeBox.style.display !== "none" ? noticeBox.textContent : ""; }
  };

  // Ready when the reference photos are in the cluster and (with the GUI) the bridge is up;
  // the GUI hears it through the bridge, never by polling.
  var channelUp = !options.bridge;
  function announce() {
    if (refsDrawn && channelUp && !window.sciceapp.ready) {
      window.sciceapp.ready = true;
      call("pageReady", markerCount());
    }
  }
  function referencesDrawn() { refsDrawn = true; announce(); }
  if (!refs.length) { referencesDrawn(); }
  if (options.bridge && typeof QWebChannel !== "undefined" && window.qt && qt.webChannelTransport) {
    new QWebChannel(qt.webChannelTransport, function (channel) {
      bridge = channel.objects.bridge;
      channelUp = true;
      announce();
    });
  } else {
    channelUp = true;
    announce();
  }
}
