"""Latent Explorer: `streamlit run app.py`."""
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
# (file, title, icon, url) — the pages in menu order; a page whose file is absent is left out
PAGES = [
    ("pages/segment_player.py", "Segment player", ":material/music_note:", "segment_player"),
    ("pages/latent_map.py", "Latent map", ":material/scatter_plot:", "latent_map"),
    ("pages/attribute_sliders.py", "Attribute sliders", ":material/tune:", "attribute_sliders"),
    ("pages/interpolation.py", "Interpolation", ":material/timeline:", "interpolation"),
    ("pages/analogy.py", "Analogy", ":material/swap_horiz:", "analogy"),
    ("pages/performance_style.py", "Performance style", ":material/piano:", "performance_style"),
    ("pages/model_report.py", "Model report", ":material/monitoring:", "model_report"),
]


def main():
    from explorer.device import set_interactive_threads
    from explorer.ui.home_page import home_page

    set_interactive_threads()
    st.set_page_config(page_title="Latent Explorer", layout="wide")
    nav = st.navigation([st.Page(home_page, title="Home", icon=":material/home:", default=True)] + [
        st.Page(path, title=title, icon=icon, url_path=url)
        for path, title, icon, url in PAGES if (HERE / path).exists()
    ])
    nav.run()


main()
