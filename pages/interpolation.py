from explorer.ui.interpolation_page import interpolation_page

interpolation_page()
