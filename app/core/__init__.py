"""What the app shows that is not Streamlit: settings, folders, the case table, the tour."""
