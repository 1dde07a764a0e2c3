"""Web pages: server-rendered dashboards over every part's services, Vietnamese first, sign-in with roles."""
