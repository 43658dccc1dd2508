from explorer.ui.sliders_page import sliders_page

sliders_page()
