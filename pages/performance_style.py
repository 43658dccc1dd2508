from explorer.ui.performance_page import performance_page

performance_page()
