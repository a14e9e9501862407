"""eCLIP Explorer, the Streamlit front end: `streamlit run app/main.py`."""
