"""Train the independent classifier that scores class fidelity of cbn models, on real images only.

    python scripts/train_classifier.py --data data/animals32 --out runs/classifier-animals \
        --image-size 32 --channels 1 --steps 3000

Reads DATA/train/CLASS/*, reports the accuracy on DATA/test/CLASS/* (the real-data ceiling of
class fidelity) and writes the classifier folder (config.json + model.safetensors) that
``translate eval-classes --classifier`` reads. See translate/classifier.py.
"""

from __future__ import annotations

import sys

from translate.classifier import main

if __name__ == "__main__":
    sys.exit(main())
