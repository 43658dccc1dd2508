from explorer.ui.segment_page import segment_page

segment_page()
