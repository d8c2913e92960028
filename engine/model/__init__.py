"""What an ONNX file is: loading, IR clamp, the graph index, describing inputs/outputs, the channels-last adapter."""
