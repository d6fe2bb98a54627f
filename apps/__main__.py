"""`make app` / `python -m apps`: serve the demo pages of the shipped checkpoints."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    # Before gradio is imported: no outside connections, and example outputs cached under
    # outputs/ (gitignored), rebuilt at each start so they always come from the served checkpoints.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", str(ROOT / "outputs" / "app" / "cached_examples"))
    os.environ.setdefault("GRADIO_RESET_EXAMPLES_CACHE", "True")

    from translate.checkpoint import CheckpointError

    from apps.app import build_app
    from apps.common import Limits

    parser = argparse.ArgumentParser(prog="python -m apps", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    defaults = Limits()
    parser.add_argument("--max-file-size", default=defaults.max_file_size, help="largest upload, e.g. 10mb")
    parser.add_argument("--max-pixels", type=int, default=defaults.max_pixels, help="largest image, width × height")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency, help="model calls at once")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port}: must be 1-65535")
    if args.max_pixels < 1 or args.concurrency < 1:
        parser.error("--max-pixels and --concurrency must be positive")
    limits = Limits(max_file_size=args.max_file_size, max_pixels=args.max_pixels, concurrency=args.concurrency)
    try:
        demo = build_app(limits=limits)
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not demo.pages:
        print("error: no shipped checkpoint has a demo page (see translate checkpoints)", file=sys.stderr)
        return 2
    print(f"serving {', '.join(demo.pages)} on http://{args.host}:{args.port}", flush=True)
    demo.launch(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
