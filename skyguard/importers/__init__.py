"""Importers turning published drone-zone data sets (EUROCAE ED-318, ED-269) into skyguard zones."""
