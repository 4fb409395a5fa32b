"""What every stage shares: params, atomic writes, reproducible CPU kernels, the manifest, video
decoding, the COCO-17 skeleton layout. Nothing here imports torch."""
