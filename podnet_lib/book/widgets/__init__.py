"""Interactive views for the chapters (ipywidgets). The callbacks are plain functions that
return matplotlib figures or numbers, so the tests call them directly: interactive output
swallows exceptions."""
