"""The consolidated layer's pure parts: areas from GeoJSON and point-in-polygon in numpy."""
