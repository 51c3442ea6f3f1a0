"""Decoding untrusted files, below the models and the pipeline: what type a file is
(`detect.py`), pictures loaded safely with their thumbnails and perceptual hashes
(`images.py`), sound in windows and keyframes at scene changes with PyAV (`audio.py`,
`keyframes.py`), and the `Decoder` that runs this here or in the parser helper."""
