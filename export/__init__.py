"""``vtg-export`` targets: the Lava bundle, ONNX and NIR."""
