"""Stage `render_heatmaps`: PoseConv3D pseudo-heatmap volumes (K x T x H x W) and their HDF5 shards."""
