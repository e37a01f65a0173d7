"""What the Compress tab says: each control's tooltip (plain words, the technical term included) and the plain
words its lists show for the recipe's own terms."""

from __future__ import annotations

from core.runtimes import Runtime

TIPS = {
    "preset": "Ready-made recipes. Near-lossless int8: a 4× smaller file, losing at most 0.3 point on its "
              "estimate. Balanced, Fastest, Smallest trade more accuracy for speed or size.",
    "prune": "Remove parts of the network. Structured pruning deletes whole channels, so the model really gets "
             "smaller and faster; unstructured pruning zeroes single weights (smaller when zipped, not faster).",
    "kind": "Structured: delete channels (real speed-up). Unstructured: zero the smallest weights.",
    "ratio": "How much to remove. 30 % of the channels cuts roughly half the compute; accuracy needs "
             "fine-tuning to come back.",
    "scope": "Uniform: every layer loses the same share. Global: one ranking over all layers, so robust "
             "layers lose more and fragile ones less.",
    "importance": "How channels are ranked: by weight size (L1/L2), by their activations or a gradient "
                  "estimate (Taylor; both read calibration images), or by BatchNorm scale.",
    "bottlenecks": "Also narrow the residual streams between blocks: more savings, larger accuracy loss.",
    "overrides": "Per-layer ratios that replace the global one for those layers (0 keeps a layer whole). "
                 "Fill them by hand or with “Apply suggestion”.",
    "quantize": "Store weights (and activations) with fewer bits: about 4× smaller files and faster CPU "
                "inference.",
    "mode": "Static: int8 weights and activations, calibrated on sample images (best for phones). Dynamic: "
            "int8 weights only. QAT: train with quantization simulated (needs training images). fp16: half "
            "the size, same speed on CPUs.",
    "observer": "How activation ranges are measured during calibration. Percentile ignores rare outliers and "
                "measured best.",
    "calibration": "How many sample images set the activation ranges; a few hundred is plenty.",
    "keep_float": "Layers left in full precision because int8 hurts them most (comma-separated module names).",
    "finetune": "Train the compressed model for a while so it recovers accuracy.",
    "epochs": "Passes over the fine-tuning images; fractions are fine.",
    "lr": "Step size of the optimizer (AdamW). Smaller is safer.",
    "distill": "Learn from the original model's answers (knowledge distillation): works even without labels.",
    "labels": "Also learn from the true labels of the fine-tuning images.",
    "minutes": "Stop fine-tuning after this many minutes (0: no limit).",
    "sensitivity": "Prune or quantize each layer alone and measure how much the answers change; fragile "
                   "layers should be pruned less or kept in float.",
    "target": "The suggestion keeps this share of the original compute (MACs), pruning robust layers first.",
    "goal": "What the search makes as small as it can: the time one image takes (speed), the file (size) or the "
            "arithmetic per image (compute, MACs).",
    "max_drop": "How many points of top-1 accuracy the new model may lose against the current one, measured on "
                "your evaluation images (Data tab). Technical: the paired Δtop-1 must not fall below −this.",
    "budget": "How long the search may run. It first verifies what is nearly free (int8, smaller inputs), then "
              "trains candidates with the time left; it always keeps the best it verified, and stops starting new "
              "candidates when the time is up (the first one is always verified).",
    "runtime": "Where speed is measured, on this computer: ONNX Runtime (what most desktop and server apps run), "
               "LiteRT (the .tflite file as the Android bundle runs it; the finalists are converted and timed, which "
               "takes a minute more) or PyTorch. A phone's own CPU can rank models differently.",
    "int8": "Also try 8-bit numbers (int8 quantization): about 4× smaller files and faster on most CPUs.",
    "advanced": "Set pruning, fine-tuning and quantization yourself instead of stating a target.",
    "resolution": "Feed the network smaller images: its compute falls with the square of the side (160 px costs "
                  "about half of 224 px). Technical: input resolution; BatchNorm statistics are re-estimated.",
    "blocks": "Skip whole blocks of the network (their positions in its feature stack, e.g. 5, 12); a small adaptor "
              "fitted on example images stands in for each. Technical: block dropping (residual blocks only).",
}

GOALS = (("Speed", "latency"), ("File size", "size"), ("Compute (MACs)", "macs"))
RUNTIME_NAMES = (("ONNX Runtime", Runtime.ONNXRUNTIME), ("LiteRT (as the Android bundle runs it)", Runtime.LITERT),
                 ("PyTorch", Runtime.TORCH))


# What each choice is called on screen; the recipe's own word (the technical term) is the item's data.
WORDS = {
    "kind": {"structured": "Whole channels (faster)", "unstructured": "Single weights (smaller when zipped)"},
    "scope": {"uniform": "The same share in every layer", "global": "Where it hurts least (global ranking)"},
    "importance": {"l1": "Weight size (L1)", "l2": "Weight size (L2)", "activation": "Activations (reads images)",
                   "taylor": "Gradient estimate (Taylor; reads images)", "bn_scale": "BatchNorm scale"},
    "mode": {"static": "8-bit, tuned on example images (static int8)", "dynamic": "8-bit weights only (dynamic int8)",
             "qat": "8-bit, retrained for it (QAT)", "fp16": "16-bit (fp16)"},
    "observer": {"minmax": "Smallest to largest value (min–max)", "moving_average": "Running average (moving average)",
                 "histogram": "Best fit to the histogram", "percentile": "Ignoring rare outliers (percentile)"},
}
