<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16-Białowieża" maxScale="0" hasScaleBasedVisibilityFlag="0" minScale="1e+08" styleCategories="AllStyleCategories">
  <flags>
    <Identifiable>1</Identifiable>
    <Removable>1</Removable>
    <Searchable>1</Searchable>
    <Private>0</Private>
  </flags>
  <temporal mode="0" fetchMode="0" enabled="0">
    <fixedRange>
      <start></start>
      <end></end>
    </fixedRange>
  </temporal>
  <customproperties>
    <Option type="Map">
      <Option type="QString" name="identify/format" value="Value"/>
    </Option>
  </customproperties>
  <pipe-data-defined-properties>
    <Option type="Map">
      <Option type="QString" name="name" value=""/>
      <Option name="properties"/>
      <Option type="QString" name="type" value="collection"/>
    </Option>
  </pipe-data-defined-properties>
  <pipe>
    <provider>
      <resampling enabled="false" maxOversampling="2" zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/>
    </provider>
    <rasterrenderer band="1" type="singlebandpseudocolor" alphaBand="-1" classificationMax="3.141592653589793" opacity="1" classificationMin="-3.141592653589793" nodataColor="">
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="1" clip="0" maximumValue="3.1415926535897931" minimumValue="-3.1415926535897931" labelPrecision="6">
          <item alpha="255" color="#ff0000" label="-3.14" value="-3.141592653589793"/>
          <item alpha="255" color="#ff8000" label="-2.62" value="-2.617993877991494"/>
          <item alpha="255" color="#ffff00" label="-2.09" value="-2.094395102393196"/>
          <item alpha="255" color="#80ff00" label="-1.57" value="-1.570796326794897"/>
          <item alpha="255" color="#00ff00" label="-1.05" value="-1.047197551196598"/>
          <item alpha="255" color="#00ff80" label="-0.52" value="-0.523598775598299"/>
          <item alpha="255" color="#00ffff" label="0.00" value="0"/>
          <item alpha="255" color="#0080ff" label="0.52" value="0.523598775598299"/>
          <item alpha="255" color="#0000ff" label="1.05" value="1.047197551196597"/>
          <item alpha="255" color="#8000ff" label="1.57" value="1.570796326794897"/>
          <item alpha="255" color="#ff00ff" label="2.09" value="2.094395102393196"/>
          <item alpha="255" color="#ff0080" label="2.62" value="2.617993877991494"/>
          <item alpha="255" color="#ff0000" label="3.14" value="3.141592653589793"/>
          <rampLegendSettings direction="0" minimumLabel="" orientation="2" maximumLabel="" prefix="" useContinuousLegend="1" suffix="">
            <numericFormat id="basic">
              <Option type="Map">
                <Option type="QChar" name="decimal_separator" value=""/>
                <Option type="int" name="decimals" value="6"/>
                <Option type="int" name="rounding_type" value="0"/>
                <Option type="bool" name="show_plus" value="false"/>
                <Option type="bool" name="show_thousand_separator" value="true"/>
                <Option type="bool" name="show_trailing_zeros" value="false"/>
                <Option type="QChar" name="thousand_separator" value=""/>
              </Option>
            </numericFormat>
          </rampLegendSettings>
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
    <brightnesscontrast brightness="0" gamma="1" contrast="0"/>
    <huesaturation grayscaleMode="0" colorizeGreen="128" saturation="0" colorizeRed="255" colorizeOn="0" colorizeStrength="100" invertColors="0" colorizeBlue="128"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
