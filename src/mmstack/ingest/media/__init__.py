"""Media decoding shared by the audio and video parsers: probing tracks, decoding sound
and frames with PyAV."""
