"""Latent Explorer: `streamlit run app.py`."""
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent  # the page files' paths in explorer.ui.page_table are relative to it


def main():
    from explorer.device import set_interactive_threads
    from explorer.ui.home_page import home_page
    from explorer.ui.page_table import navigation

    set_interactive_threads()
    st.set_page_config(page_title="Latent Explorer", layout="wide")
    st.navigation(navigation(HERE, home_page)).run()


main()
