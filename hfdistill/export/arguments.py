class ExportArguments: pass
def export_student(): pass
