from explorer.ui.style_transfer_page import style_transfer_page

style_transfer_page()
