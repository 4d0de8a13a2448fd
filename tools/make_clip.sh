#!/bin/sh
# Make rhbatch/emulator/data/clip.mp4, the tiny real video the emulator returns
# for video endpoints (rhbatch/emulator/media.py pads it to the requested size).
# Run once from the repository root; the result is committed.
set -eu
ffmpeg -y -hide_banner -loglevel error \
    -f lavfi -i "testsrc2=size=160x90:rate=12:duration=1" \
    -c:v libx264 -preset veryslow -crf 40 -pix_fmt yuv420p -g 12 \
    -x264-params "threads=1" -tune stillimage \
    -map_metadata -1 -fflags +bitexact -flags:v +bitexact \
    -movflags +faststart \
    rhbatch/emulator/data/clip.mp4
