"""Notebook 07's teacher: how many hidden units dropout removes, chosen on the validation split.

    VIETAI_DATA=../shared/data python scripts/choose_teacher.py

Hinton et al. (2015) regularise their 1200-1200 MNIST teacher as Hinton et al. (2012) do, dropping half of the
hidden units, and train it for thousands of epochs; notebook 07 has 40 (``recipe.TEACHER_EPOCHS``). For each
hidden-unit dropout in ``DROPOUTS`` this script trains that teacher (input dropout 0.2, inputs jittered by up to
2 pixels, on the 55,000 training images; ``stages.load_or_train_teacher``, so notebook 07 loads the chosen one
from ``artifacts/<mode>/`` instead of training it again), counts its errors on the 5,000 validation images, and,
for information, distils notebook 07's 800-800 student from it (T = 4, alpha = 0.9, 20 epochs, as notebook 07's
section 3 does first). The test set is not read.

The rule, fixed before the runs: the dropout whose teacher makes the fewest validation errors (on a tie, the
larger dropout, nearer Hinton et al.'s). Writes ``vietai_compress/measured/choose_teacher.json``; a test checks that
``recipe.TEACHER_DROPOUT`` is its choice and notebook 07 prints its table. Full mode: about 9 minutes per
dropout on 2 CPU cores.

    python scripts/choose_teacher.py --table    # print the table from the JSON, run nothing
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vietai_compress import measured
from vietai_compress.config import get_device, is_quick, seed_everything
from vietai_compress.data import mnist_loaders
from vietai_compress.distillation import train_distilled, with_teacher_logits
from vietai_compress.fileio import atomic_write_text
from vietai_compress.models import MLP
from vietai_compress.recipe import BATCH_SIZE, DISTILL_EPOCHS, mode_epochs
from vietai_compress.stages import load_or_train_teacher
from vietai_compress.training import evaluate, make_optimizer

DROPOUTS = (0.5, 0.3, 0.2, 0.1)  # hidden-unit dropout of the teacher; 0.5 is Hinton et al. (2012)'s
STUDENT_T, STUDENT_ALPHA = 4.0, 0.9  # notebook 07's first distilled 800-800 student
OUTPUT = measured.path("choose_teacher")


def fewest_errors(val_errors: dict[float, int]) -> float:
    """The dropout with the fewest validation errors; on a tie, the larger dropout."""
    return min(val_errors, key=lambda dropout: (val_errors[dropout], -dropout))


def markdown_table(results: dict) -> str:
    """One row per dropout: the teacher's and its distilled student's validation errors, the choice marked."""
    lines = ["| hidden-unit dropout | teacher: validation errors | 800-800 student distilled from it |",
             "| ---: | ---: | ---: |"]
    for row in results["runs"]:
        mark = " (chosen)" if row["dropout"] == results["chosen"] else ""
        lines.append(f"| {row['dropout']:g}{mark} | {row['teacher_val_errors']} | {row['student_val_errors']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--table", action="store_true", help="print the table from --output and stop")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.output.read_text())))
        return
    quick, device = is_quick(), get_device()
    train_loader, val_loader, _ = mnist_loaders(BATCH_SIZE, device=device, validation=True)
    student_epochs = mode_epochs(quick, DISTILL_EPOCHS, len(train_loader))
    runs = []
    for dropout in DROPOUTS:
        teacher = load_or_train_teacher(train_loader, quick, device=device, dropout=dropout,
                                        desc=f"teacher, dropout {dropout:g}")
        seed_everything()
        student = MLP((800, 800)).to(device)
        train_distilled(student, None, with_teacher_logits(train_loader, teacher), make_optimizer(student),
                        student_epochs, STUDENT_T, STUDENT_ALPHA, device, desc=f"student of the {dropout:g} teacher")
        runs.append({"dropout": dropout, "teacher_val_errors": evaluate(teacher, val_loader, device).errors,
                     "student_val_errors": evaluate(student, val_loader, device).errors})
        print(json.dumps(runs[-1]), flush=True)
    chosen = fewest_errors({row["dropout"]: row["teacher_val_errors"] for row in runs})
    results = {"mode": "quick" if quick else "full", "validation_images": len(val_loader.labels),
               "student": {"hidden": [800, 800], "T": STUDENT_T, "alpha": STUDENT_ALPHA, "epochs": student_epochs},
               "runs": runs, "chosen": chosen}
    atomic_write_text(args.output, json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
