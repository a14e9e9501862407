"""Work outside the page: separate processes the app launches and the server-wide heavy-job slot
(no Streamlit here)."""
