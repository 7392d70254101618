"""`massiv serve`: the dataset's site, server-rendered (FastAPI + Jinja2, no JavaScript)."""
