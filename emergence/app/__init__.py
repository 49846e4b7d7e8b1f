"""What the dashboard shows, without Streamlit: view state <-> URL <-> tables <-> CSV, pivots, figures."""
