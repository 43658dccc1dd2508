from explorer.ui.report_page import report_page

report_page()
