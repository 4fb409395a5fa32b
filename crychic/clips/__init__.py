"""Stage `sample_clips`: which frames of which video make a clip, and the person box that frames it."""
