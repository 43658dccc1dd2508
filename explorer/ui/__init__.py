"""Streamlit widgets shared by the pages. Each ``*_ui`` draws and returns plain values."""
