"""Exports for 3-D tools: map sets (PNG/EXR + JSON sidecar), relit previews, height-field meshes, ONNX."""
