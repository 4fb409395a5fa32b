"""DVC stage `train_rgb_only` (baseline): the student trained on RGB alone, from scratch, with the
student stage's settings; see `crychic.training.loop` and `stages.training_stage`."""

from stages.training_stage import run

if __name__ == "__main__":
    run("rgb_only")
