"""Quantization primitives shared by compression and export: observers, cross-layer equalization, bias
correction, the data flow they walk, and the activation ranges an exporter re-quantizes with."""
