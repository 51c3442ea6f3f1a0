"""Media decoding shared by the parsers: probing tracks, decoding sound and frames with
PyAV (audio, video), loading pictures safely and grouping OCR lines into paragraphs
(images, scanned PDF pages)."""
