"""Latent Explorer: `streamlit run app.py`."""
import streamlit as st


def main():
    from explorer.ui.home_page import home_page

    st.set_page_config(page_title="Latent Explorer", layout="wide")
    nav = st.navigation([
        st.Page(home_page, title="Home", icon=":material/home:", default=True),
        st.Page("pages/segment_player.py", title="Segment player", icon=":material/music_note:", url_path="segment_player"),
    ])
    nav.run()


main()
