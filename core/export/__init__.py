"""Export float, pruned and int8 variants to deployment formats, each verified in its own runtime.

`core.export.registry` (no heavy imports) lists the formats; `core.export.run.export_model`
does the work. Each format's converter lives in its own module and imports its back end
(onnxruntime, litert_torch, coremltools, executorch, torchao) inside its functions.
"""
