"""DVC stage `finetune_joint`: see `crychic.training.loop` (what is trained) and `stages.training_stage` (outputs)."""

from stages.training_stage import run

if __name__ == "__main__":
    run("joint")
