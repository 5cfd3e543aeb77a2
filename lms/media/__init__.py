"""Media: uploaded and generated video, probed with ffmpeg."""
