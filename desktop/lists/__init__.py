"""The list mechanism every list view shares: the paged model, the list page, the row
painter, filters, link chips, status badges and the detail frame."""
