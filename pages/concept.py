from explorer.ui.concept_page import concept_page

concept_page()
