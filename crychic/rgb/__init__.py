"""Stage `decode_rgb`: RGB clips (3 x T x H x W uint8) decoded by decord, cut by the person box, stored in Arrow."""
