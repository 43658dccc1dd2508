from explorer.ui.map_page import map_page

map_page()
