"""The Textual user interface (the only part of bpstep that imports textual)."""
