from explorer.ui.analogy_page import analogy_page

analogy_page()
