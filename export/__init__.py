"""``vtg-export`` targets: the Lava bundle, ONNX and NIR."""

from vtg.quiet_imports import import_cpp_extension_quietly

import_cpp_extension_quietly()  # before Brevitas (and onnxruntime) import it loudly
