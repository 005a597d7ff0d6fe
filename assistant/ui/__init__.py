"""Gradio UI: handlers are plain functions (tested without a browser); app.py assembles them."""
