"""Gradio demo pages for translate's shipped checkpoints: ``python -m apps`` (``make app``).

See :mod:`apps.app` for how pages are registered; each page uses only translate's public API.
"""
